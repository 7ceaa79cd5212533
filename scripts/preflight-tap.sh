#!/bin/sh
# The `pipeboard-preflight` extractor of meltano.yml: a Singer tap that writes no messages.
#
# `meltano run pipeboard-preflight target-pipeboard-postgres` therefore only starts the loader, which connects to
# its database and creates its schema before it reads any input; when it cannot, it fails in one line and
# `meltano run` stops there, before `tap-pipedrive` has sent Pipedrive a single request (Meltano runs blocks in
# order, and runs an extractor's discovery only when its own block starts). Meltano passes `--config <file>`;
# there is nothing to configure.
exit 0
