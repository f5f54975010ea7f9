-- One points-account entry, immutable, with its effect on the balance and on holds.

with

entries as (
    select * from {{ ref('stg_loyalty__entries') }}
    -- superseded re-exports and entries without id, account, type or time are listed in
    -- rpt_data_issues
    where
        not is_superseded
        and entry_id is not null
        and account_id is not null
        and entry_type is not null
        and occurred_at is not null
),

final as (
    select
        entry_id as entry_key,
        account_id,
        entry_type,
        points,
        case entry_type
            when 'credit' then points
            when 'confirm' then -points
            when 'expire' then -points
            else 0
        end as balance_effect,
        case entry_type
            when 'authorize' then points
            when 'confirm' then -points
            when 'cancel' then -points
            else 0
        end as hold_effect,
        vendor_id,
        vendor_kind,
        redemption_order_number,
        authorization_id,
        external_transaction_id,
        occurred_at,
        {{ business_date('occurred_at') }} as occurred_date,
        source_file,
        source_line
    from entries
)

select * from final
