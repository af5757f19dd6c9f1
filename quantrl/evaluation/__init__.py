"""Evaluation: performance statistics, alpha metrics (IC, AlphaEval) and reports."""
