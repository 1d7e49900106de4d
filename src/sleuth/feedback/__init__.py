"""sleuth.feedback"""
