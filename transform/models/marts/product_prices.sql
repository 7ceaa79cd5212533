{#- Product prices as Pipedrive gives them: one row per live product, or variation of one, and currency. -#}
with prices as (

    select * from {{ ref('stg_pipedrive__product_prices') }}

),

products as (

    select id, name from {{ ref('stg_pipedrive__products') }}

),

variations as (

    select id, name from {{ ref('stg_pipedrive__product_variations') }}

),

final as (

    select
        prices.product_id,
        products.name as product_name,
        prices.product_variation_id,
        variations.name as variation_name,
        prices.currency,
        prices.price,
        prices.cost,
        prices.direct_cost,
        prices.notes
    from prices
    left join products on products.id = prices.product_id
    left join variations on variations.id = prices.product_variation_id

)

select * from final
