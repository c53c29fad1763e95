"""Holter (24-48 h ambulatory ECG) reporting from per-beat labels: ectopy, pauses, heart rate, urgent findings
(`events`) and time-domain heart-rate variability (`hrv`). Both take R-peak times in seconds from the record's
start and AAMI labels ("N", "S", "V", "F", "Q", "unclassified"), so that the same code reports on a model's
predictions and on reference annotations mapped to AAMI classes.
"""
