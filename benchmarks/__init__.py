"""Benchmarks of ccai-airflow: ``make bench`` runs :mod:`benchmarks.run`."""
