"""Biometric evaluation: ISO/IEC 19795-1 error rates, DET plots and reports."""
