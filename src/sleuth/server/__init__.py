"""sleuth.server"""
