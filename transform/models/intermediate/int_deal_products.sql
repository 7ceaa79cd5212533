{#- Per deal: how many product lines, their total quantity and value, and the product names. -#}
with deal_products as (

    select * from {{ ref('stg_pipedrive__deal_products') }}

),

final as (

    select
        deal_id,
        count(*) as products_count,
        sum(quantity) as products_quantity,
        sum(sum) as products_total_value,
        string_agg(distinct product_name, ', ' order by product_name) as product_names
    from deal_products
    group by deal_id

)

select * from final
