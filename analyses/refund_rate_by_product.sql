-- docs/analyses.md, refund rate by product, against the marts. transaction_items is
-- not needed: a transaction carries its product_key; products are unified across
-- platforms, so platform_origin is the list of platforms.
select
    p.name as product_name,
    p.platforms as platform_origin,
    count(distinct case when ts.label_pt = 'Aprovada' then t.transaction_key end)
        as approved_count,
    count(distinct case when ts.label_pt = 'Reembolsada' then t.transaction_key end)
        as refunded_count,
    round((
        count(distinct case when ts.label_pt = 'Reembolsada' then t.transaction_key end)
        * 100.0 / nullif(count(distinct case
            when ts.label_pt in ('Aprovada', 'Reembolsada', 'Completa') then t.transaction_key
        end), 0)
    ), 2) as refund_rate
from {{ ref('fct_transactions') }} as t
inner join {{ ref('dim_products') }} as p on t.product_key = p.product_key
inner join {{ ref('transaction_statuses') }} as ts on t.status = ts.status_code
where t.order_date between '{{ var("analysis_start") }}' and '{{ var("analysis_end") }}'
group by p.product_key, p.name, p.platforms
having
    count(distinct case
        when ts.label_pt in ('Aprovada', 'Reembolsada', 'Completa') then t.transaction_key
    end) > 10
order by refund_rate desc
