"""sleuth.agents.research.nodes"""
