"""Names shared by the definitions and the command line."""

JOB_NAME = "tallyhouse"
# A run tagged so rebuilds every model from raw and runs every test over whole tables.
FULL_PASS_TAG = "tallyhouse/full_pass"
# "false": no digest and no failed-run alert for this run (tallyhouse run --no-notify);
# "true": a digest for a run the new-files sensor started (those send none by default).
NOTIFY_TAG = "tallyhouse/notify"
