-- docs/analyses.md, sales by status, against the marts, with the currency
-- in the grouping: money is never summed across
-- currencies.
select
    ts.label_pt as status_name,
    t.currency_code,
    count(t.transaction_key) as transaction_count,
    sum(t.offer_price) as total_value
from {{ ref('fct_transactions') }} as t
inner join {{ ref('transaction_statuses') }} as ts on t.status = ts.status_code
where t.order_date between '{{ var("analysis_start") }}' and '{{ var("analysis_end") }}'
group by ts.label_pt, t.currency_code
order by total_value desc
