-- Invariant 1, nothing lost, for what was delivered: per file, records in the file =
-- records landed + quarantined + duplicates (exact duplicates skipped at load, and ledger
-- records re-exported with the same values in other bytes: duplicates of the first
-- delivered, see superseded_columns), counted from the tables (a file whose bytes are in
-- two sources is counted in each of its own feed only); a file redelivered under a loaded
-- name with other content (not loaded: its records are not in the marts); and an event
-- delivered twice with other content (the marts use one version, the one with the lowest
-- record hash, whatever the order of delivery; deliveries under the id that name other
-- transactions are each counted in the transaction they name).

{#- the ledger readers that keep a re-export once (the registry's `reexports`) -#}
{%- set ledgers = reexport_readers() %}

with

manifest as (
    select * from {{ source('raw', '_manifest') }}
    where status in ('loaded', 'rejected')
),

landed as (
    select
        source,
        feed,
        file_sha256,
        sum(records) as records
    from {{ ref('int_landed_records_per_file') }}
    group by source, feed, file_sha256
),

quarantined as (
    select
        source,
        file_sha256,
        count(*) as records
    from {{ source('raw', '_quarantine') }}
    group by source, file_sha256
),

-- landed in raw, but a duplicate of a record delivered before (23.280 for 23.28)
reexported as (
    {%- for feed, model in ledgers %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ feed }}' as feed,
            source_file as file_name,
            count(*) as records
        from {{ ref(model) }}
        where is_duplicate
        group by source_file
    {%- endfor %}
),

counted as (
    select
        manifest.file_name,
        manifest.source,
        coalesce(manifest.feed, manifest.source) as feed,
        manifest.records_in_file,
        manifest.records_duplicate,
        coalesce(reexported.records, 0) as reexported,
        coalesce(landed.records, 0) - coalesce(reexported.records, 0) as landed,
        coalesce(quarantined.records, 0) as quarantined
    from manifest
    left join landed
        on
            manifest.file_sha256 = landed.file_sha256
            and manifest.feed = landed.feed
    left join quarantined
        on
            manifest.file_sha256 = quarantined.file_sha256
            and manifest.source = quarantined.source
    left join reexported
        on
            manifest.file_name = reexported.file_name
            and manifest.feed = reexported.feed
),

not_reconciled as (
    select
        'files_reconcile' as check_name,
        'file_not_reconciled' as break_kind,
        'file' as entity_type,
        file_name as entity_id,
        source as platform,
        'records' as unit,
        cast(records_in_file as {{ type_money_total() }}) as expected,
        cast(landed + quarantined + records_duplicate + reexported as {{ type_money_total() }})
            as actual,
        cast(null as {{ type_money_total() }}) as amount_at_stake,
        case
            when reexported = 0
                then {{ format_text(
                    "'%s records in the file; %s landed, %s quarantined, %s exact duplicates'",
                    'records_in_file', 'landed', 'quarantined', 'records_duplicate'
                ) }}
            else {{ format_text(
                "'%s records in the file; %s landed, %s quarantined, %s duplicates (%s exact, '
                || '%s re-exported with other formatting)'", 'records_in_file', 'landed',
                'quarantined', 'records_duplicate + reexported', 'records_duplicate',
                'reexported'
            ) }}
        end as detail,
        feed
    from counted
    where records_in_file <> landed + quarantined + records_duplicate + reexported
),

changed_files as (
    select
        'files_reconcile' as check_name,
        'changed_file' as break_kind,
        'file' as entity_type,
        file_name as entity_id,
        source as platform,
        'records' as unit,
        cast(null as {{ type_money_total() }}) as expected,
        cast(records_in_file as {{ type_money_total() }}) as actual,
        cast(null as {{ type_money_total() }}) as amount_at_stake,
        {{ format_text(
            "'%s records delivered under a name already loaded, with other content: not '
            || 'loaded (deliver corrections under a new file name)'", 'records_in_file'
        ) }} as detail,
        coalesce(feed, source) as feed
    from {{ source('raw', '_manifest') }}
    where status = 'changed_content'
),

-- events delivered more than once (counted by int_transaction_events_mapped), and every
-- delivery of them, read by index
redelivered as (
    select distinct
        platform,
        source_event_id
    from {{ ref('int_transaction_events_mapped') }}
    where deliveries > 1
),

events as (
    {{ purchase_events(event_ids='redelivered') }}
),

versions as (
    select
        platform,
        source_event_id,
        platform_transaction_id,
        currency_code,
        record_hash,
        offer_price,
        {{ format_text(
            "'%s %s %s at %s for %s (%s line %s)'", 'raw_status', 'offer_price',
            'currency_code', utc_text('event_at'), 'platform_transaction_id', 'source_file',
            'source_line'
        ) }} as version,
        {{ dbt.hash(
            "concat_ws('|', platform_transaction_id, raw_status, raw_payment_method,
            currency_code, offer_price,
            customer_paid_amount, platform_fee_amount, coproducer_commission_amount,
            affiliate_commission_amount, reported_producer_amount, refund_amount, "
            ~ utc_text('event_at') ~ ")"
        ) }} as content
    from events
),

conflicting as (
    select
        'conflicting_redeliveries' as check_name,
        'conflicting_redelivery' as break_kind,
        'transaction' as entity_type,
        min(platform_transaction_id) as entity_id,
        platform,
        min(currency_code) as unit,
        cast(min(offer_price) as {{ type_money_total() }}) as expected,
        cast(max(offer_price) as {{ type_money_total() }}) as actual,
        -- what differs: the price, else the whole sale (its status or method differ)
        cast(
            case
                when max(offer_price) <> min(offer_price)
                    then max(offer_price) - min(offer_price)
                else max(offer_price)
            end as {{ type_money_total() }}
        ) as amount_at_stake,
        case
            when min(platform_transaction_id) <> max(platform_transaction_id)
                -- an event id is one transaction's: another transaction's delivery under
                -- it is a re-export gone wrong, counted in the transaction it names
                then {{ format_text(
                    "'event %s delivered %s times naming different transactions; each '
                    || 'transaction counts the one it names (its first by record hash): %s'",
                    'source_event_id', 'count(*)',
                    text_agg('version', "' | '", order_by='record_hash')
                ) }}
            else {{ format_text(
                "'event %s delivered %s times with other content; the marts use the first of: '
                || '%s'", 'source_event_id', 'count(*)',
                text_agg('version', "' | '", order_by='record_hash')
            ) }}
        end as detail,
        cast(null as {{ type_text() }}) as feed
    from versions
    group by platform, source_event_id
    having count(distinct content) > 1
)

select * from not_reconciled
union all
select * from changed_files
union all
select * from conflicting
