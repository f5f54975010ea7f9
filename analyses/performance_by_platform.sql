-- docs/analyses.md, performance by platform, against the marts (platform = payment_gateway;
-- grouped by currency too).
select
    t.platform,
    t.currency_code,
    count(t.transaction_key) as sales_count,
    sum(t.offer_price) as gross_revenue,
    sum(t.producer_net_amount) as net_revenue,
    avg(t.offer_price) as avg_ticket,
    sum(t.platform_fee_amount) as total_fees,
    sum(t.platform_fee_amount) / sum(t.offer_price) * 100 as fee_percentage
from {{ ref('fct_transactions') }} as t
where
    t.status = (
        select s.status_code from {{ ref('transaction_statuses') }} as s
        where s.label_pt = 'Aprovada'
    )
    and t.order_date between '{{ var("analysis_start") }}' and '{{ var("analysis_end") }}'
group by t.platform, t.currency_code
order by gross_revenue desc
