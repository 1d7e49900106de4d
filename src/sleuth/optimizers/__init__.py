"""sleuth.optimizers"""
