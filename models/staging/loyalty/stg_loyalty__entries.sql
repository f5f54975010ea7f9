-- Points-account entries, typed. A re-exported entry (same entry_id, other bytes, e.g.
-- another timestamp format) is kept once, the first delivered; a later one is a duplicate
-- when its values are the same, else a conflicting re-export listed in rpt_data_issues.

-- Incremental: the records loaded since the last build, each ranked against the record
-- kept for its key (with_superseded_columns); rows built before never change.
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns') }}

{%- set issues = [] %}

with

source as (
    {{ raw_rows(source('loyalty', 'loyalty_entries')) }}
),

typed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(entry_id, '')", 'entry_id', issues) }} as entry_id,
        {{ required("nullif(account_id, '')", 'account_id', issues) }} as account_id,
        {{ one_of(required("nullif(entry_type, '')", 'entry_type', issues),
                  ['authorize', 'confirm', 'cancel', 'credit', 'expire'], 'entry_type',
                  issues) }} as entry_type,
        {{ expected(integer('points', 'points', issues, type=type_bigint()), 'points', issues,
                    raw="nullif(points, '')") }}
            as points,
        nullif(vendor_id, '') as vendor_id,
        nullif(vendor_kind, '') as vendor_kind,
        nullif(redemption_order_number, '') as redemption_order_number,
        {%- do _record_issue(issues, 'authorization_id', 'authorization_id',
                "entry_type in ('authorize', 'confirm', 'cancel') "
                ~ "and nullif(authorization_id, '') is null",
                'missing: an authorize, confirm or cancel needs its authorization id') %}
        nullif(authorization_id, '') as authorization_id,
        nullif(external_transaction_id, '') as external_transaction_id,
        {{ required(timestamp('occurred_at', 'occurred_at', issues), 'occurred_at', issues,
                    raw="nullif(occurred_at, '')") }} as occurred_at,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

ranked as (
    {{ with_superseded_columns(
        'typed',
        ['entry_id'],
        ['account_id', 'entry_type', 'points', 'authorization_id', 'occurred_at']
    ) }}
)

select * from ranked
