"""sleuth.retrieval"""
