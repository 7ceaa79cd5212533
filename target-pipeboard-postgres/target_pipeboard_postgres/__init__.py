"""target-pipeboard-postgres: a Singer target loading PostgreSQL through staging COPY upserts."""
