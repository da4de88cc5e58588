#!/bin/sh
# The streaming download function starts here: the AWS Lambda Web Adapter (the function's layer,
# AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this handler and forwards requests to the port.
cd "$LAMBDA_TASK_ROOT" || exit 1
exec python3 -m chalicelib.web.download_server
