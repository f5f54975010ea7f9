-- Invariant 1, nothing lost: per delivered file, records in the file = records landed +
-- quarantined + exact duplicates skipped, counted from the tables themselves. A file
-- whose bytes are in two sources is counted in each of its own feed only.

{%- set feeds = [
    ('hotmart', 'hotmart_webhooks'), ('kiwify', 'kiwify_webhooks'),
    ('eduzz', 'eduzz_webhooks'), ('pix', 'pix_payments'), ('pix', 'pix_orders'),
    ('loyalty', 'loyalty_entries'), ('redemptions', 'redemption_orders'),
    ('redemptions', 'redemption_items'), ('giftcards', 'giftcard_cards'),
    ('giftcards', 'giftcard_transactions'), ('payouts', 'payout_lines'),
] %}

with

manifest as (
    select * from {{ source('raw', '_manifest') }}
    where status in ('loaded', 'rejected')
),

landed as (
    {%- for source_name, feed in feeds %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ source_name }}' as source,
            '{{ feed }}' as feed,
            _file_sha256 as file_sha256,
            count(*) as records
        from {{ source(source_name, feed) }}
        group by _file_sha256
    {%- endfor %}
),

quarantined as (
    select
        source,
        file_sha256,
        count(*) as records
    from {{ source('raw', '_quarantine') }}
    group by source, file_sha256
),

counted as (
    select
        manifest.file_name,
        manifest.source,
        coalesce(manifest.feed, manifest.source) as feed,
        manifest.records_in_file,
        manifest.records_duplicate,
        coalesce(landed.records, 0) as landed,
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
)

select
    'files_reconcile' as check_name,
    'file_not_reconciled' as break_kind,
    'file' as entity_type,
    file_name as entity_id,
    source as platform,
    'records' as unit,
    records_in_file::numeric as expected,
    (landed + quarantined + records_duplicate)::numeric as actual,
    null::numeric as amount_at_stake,
    format(
        '%s records in the file; %s landed, %s quarantined, %s exact duplicates',
        records_in_file, landed, quarantined, records_duplicate
    ) as detail,
    feed
from counted
where records_in_file <> landed + quarantined + records_duplicate
