"""Names shared by the definitions and the command line."""

JOB_NAME = "tallyhouse"
# A run tagged so rebuilds every model from raw and runs every test over whole tables.
FULL_PASS_TAG = "tallyhouse/full_pass"
