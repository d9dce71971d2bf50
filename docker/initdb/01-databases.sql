-- One server, three databases: Dagster's instance, the correction store, MLflow's backend.
CREATE DATABASE correctly;
CREATE DATABASE mlflow;
\connect correctly
CREATE EXTENSION IF NOT EXISTS vector;
