#!/bin/sh
# Pipeline container entry point: with no arguments, run the schedule in docker/crontab; otherwise run the command.
# Examples: `docker compose run --rm pipeline meltano --environment=prod run pipedrive-to-postgres` (one sync now).
set -eu
if [ "$#" -eq 0 ]; then
  exec supercronic -passthrough-logs /etc/pipeboard/crontab
fi
exec "$@"
