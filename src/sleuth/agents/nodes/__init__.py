"""sleuth.agents.nodes"""
