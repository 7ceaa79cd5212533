"""pipeboard-dbt: runs the dbt project in transform/ with the loader's connection; reports to Prometheus."""
