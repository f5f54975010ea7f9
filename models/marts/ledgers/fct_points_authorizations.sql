-- One authorization (hold) with its outcome: confirmed, cancelled, expired after
-- `authorization_expiry_days` without either, or open.

with

ledger as (
    select * from {{ ref('fct_points_ledger') }}
),

as_of as (
    select max(occurred_at) as data_as_of from ledger
),

holds as (
    select
        authorization_id,
        min(account_id) as account_id,
        min(vendor_id) as vendor_id,
        min(vendor_kind) as vendor_kind,
        min(redemption_order_number) as redemption_order_number,
        min(external_transaction_id) as external_transaction_id,
        sum(points) as authorized_points,
        min(occurred_at) as authorized_at
    from ledger
    -- an authorize without its id cannot be matched: rpt_data_issues lists it
    where entry_type = 'authorize' and authorization_id is not null
    group by authorization_id
),

resolutions as (
    select
        authorization_id,
        coalesce({{ sum_where('points', "entry_type = 'confirm'") }}, 0) as confirmed_points,
        {{ count_where("entry_type = 'confirm'") }} as confirms,
        {{ min_where('occurred_at', "entry_type = 'confirm'") }} as confirmed_at,
        coalesce({{ sum_where('points', "entry_type = 'cancel'") }}, 0) as cancelled_points,
        {{ count_where("entry_type = 'cancel'") }} as cancels,
        {{ min_where('occurred_at', "entry_type = 'cancel'") }} as cancelled_at
    from ledger
    where entry_type in ('confirm', 'cancel')
    group by authorization_id
),

final as (
    select
        holds.authorization_id,
        holds.account_id,
        holds.vendor_id,
        holds.vendor_kind,
        holds.redemption_order_number,
        holds.external_transaction_id,
        cast(holds.authorized_points as {{ type_points() }}) as authorized_points,
        holds.authorized_at,
        cast(coalesce(resolutions.confirmed_points, 0) as {{ type_points() }}) as confirmed_points,
        coalesce(resolutions.confirms, 0) as confirms,
        resolutions.confirmed_at,
        cast(coalesce(resolutions.cancelled_points, 0) as {{ type_points() }}) as cancelled_points,
        coalesce(resolutions.cancels, 0) as cancels,
        resolutions.cancelled_at,
        case
            when coalesce(resolutions.confirms, 0) > 0 then 'confirmed'
            when coalesce(resolutions.cancels, 0) > 0 then 'cancelled'
            when
                holds.authorized_at < {{ dbt.dateadd(
                    'day', '-' ~ var('authorization_expiry_days'), 'as_of.data_as_of') }}
                then 'expired'
            else 'open'
        end as outcome
    from holds
    cross join as_of
    left join resolutions on holds.authorization_id = resolutions.authorization_id
)

select * from final
