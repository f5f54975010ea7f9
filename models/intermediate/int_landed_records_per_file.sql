-- How many records of each delivered file landed in raw, counted from the raw tables (the
-- file reconciliation compares it with the manifest). A file is loaded in one transaction
-- under one load number, so a count per file and load is final once written: incremental,
-- appending the loads since the last build instead of counting every raw row each run.
-- Every feed of the registry (dbt_project.yml), webhooks, ledgers and API pages alike.

{{ config(materialized='incremental', incremental_strategy='append',
          post_hook="{{ record_raw_watermark(landed_feed_relations()) }}") }}

{%- set since = watermark() | trim if is_incremental() else -1 %}

{%- for source_name, feed in landed_feeds() %}
    {%- if not loop.first %}
        union all
    {%- endif %}
    select
        '{{ source_name }}' as source,
        '{{ feed }}' as feed,
        _file_sha256 as file_sha256,
        _load_seq as load_seq,
        count(*) as records
    from {{ raw_feed(source_name, feed) }}
    where _load_seq > {{ since }}
    group by _file_sha256, _load_seq
{%- endfor %}
