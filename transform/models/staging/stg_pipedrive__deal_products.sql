{#- Products attached to deals, with the product's name. -#}
with source as (

    {{ pipeboard_read_source('deal_products').sql }}

),

products as (

    select * from {{ ref('stg_pipedrive__products') }}

),

final as (

    select
        source.id,
        source.deal_id,
        source.product_id,
        products.name as product_name,
        source.quantity,
        source.item_price,
        source.sum,
        source.currency
    from source
    left join products on products.id = source.product_id
    where source.deal_id is not null
        and source._sdc_deleted_at is null

)

select * from final
