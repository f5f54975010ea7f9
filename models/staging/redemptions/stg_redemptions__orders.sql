-- Redemption orders, typed; a re-exported order (same order_number) is kept once, the
-- first delivered.

-- Incremental: the records loaded since the last build, each ranked against the record
-- kept for its key (with_superseded_columns); rows built before never change.
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns') }}

{%- set issues = [] %}

with

source as (
    {{ raw_rows(source('redemptions', 'redemption_orders')) }}
),

typed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(order_number, '')", 'order_number', issues) }} as order_number,
        company_id,
        company_name,
        loyalty_account_id as account_id,
        account_manager_id,
        account_manager_email,
        account_manager_name,
        {{ integer('total_points', 'total_points', issues, type=type_bigint()) }} as total_points,
        {{ one_of('status', ['COMPLETED', 'CANCELLED', 'PENDING', 'REJECTED'], 'status',
                  issues) }} as order_status,
        {{ timestamp('created_at', 'created_at', issues) }} as created_at,
        {{ timestamp('completed_at', 'completed_at', issues) }} as completed_at,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

ranked as (
    {{ with_superseded_columns(
        'typed',
        ['order_number'],
        ['account_id', 'total_points', 'order_status', 'created_at', 'completed_at']
    ) }}
)

select * from ranked
