"""Apache Airflow provider for Google Cloud Contact Center Insights long-running operations."""

__version__ = "0.2.0.dev0"
