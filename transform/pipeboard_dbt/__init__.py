"""pipeboard-dbt: runs the dbt project in transform/ with the loader's connection, and reports it to Prometheus."""
