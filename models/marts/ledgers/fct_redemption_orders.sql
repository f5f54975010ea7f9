-- One redemption order of the portal (docs/ledgers.md): company, account manager, points, the
-- items' points and the confirmed debit that paid for it.

with

orders as (
    select * from {{ ref('stg_redemptions__orders') }}
    where not is_superseded and order_number is not null
),

items as (
    select
        order_number,
        count(*) as items,
        sum(item_points) as items_points,
        {{ count_where("product_type = 'PHYSICAL'") }} as physical_items,
        {{ count_where("product_type = 'VIRTUAL'") }} as virtual_items
    from {{ ref('stg_redemptions__items') }}
    where not is_superseded and item_id is not null
    group by order_number
),

debits as (
    select
        redemption_order_number as order_number,
        sum(confirmed_points) as confirmed_points,
        sum(cancelled_points) as cancelled_points,
        {{ text_agg('outcome', "','", distinct=true) }} as authorization_outcomes
    from {{ ref('fct_points_authorizations') }}
    where redemption_order_number is not null
    group by redemption_order_number
),

final as (
    select
        orders.order_number,
        orders.company_id,
        orders.company_name,
        orders.account_id,
        orders.account_manager_id,
        {{ person_key('orders.account_manager_email') }} as account_manager_key,
        orders.order_status,
        orders.total_points,
        cast(coalesce(items.items_points, 0) as {{ type_points() }}) as items_points,
        cast(coalesce(debits.confirmed_points, 0) as {{ type_points() }}) as confirmed_debit_points,
        coalesce(items.items, 0) as items,
        coalesce(items.physical_items, 0) as physical_items,
        coalesce(items.virtual_items, 0) as virtual_items,
        case
            when coalesce(items.physical_items, 0) > 0 and coalesce(items.virtual_items, 0) > 0
                then 'mixed'
            when coalesce(items.physical_items, 0) > 0 then 'physical'
            else 'virtual'
        end as fulfilment_kind,
        debits.authorization_outcomes,
        orders.created_at,
        orders.completed_at
    from orders
    left join items on orders.order_number = items.order_number
    left join debits on orders.order_number = debits.order_number
)

select * from final
