{#- Product prices as Pipedrive gives them: one row per product (or product variation) and currency, from the
    `prices` lists of products and product_variations (no request of their own). -#}
with products as (

    {{ pipeboard_read_source('products').sql }}

),

variations as (

    {{ pipeboard_read_source('product_variations').sql }}

),

product_prices as (

    select
        products.id as product_id,
        cast(null as bigint) as product_variation_id,
        price
    from products
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(products.prices) = 'array' then products.prices else '[]'::jsonb end
    ) as prices (price)
    where not {{ pipeboard_is_deleted('products.is_deleted') }}

),

variation_prices as (

    select
        variations.product_id,
        variations.id as product_variation_id,
        price
    from variations
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(variations.prices) = 'array' then variations.prices else '[]'::jsonb end
    ) as prices (price)
    where variations._sdc_deleted_at is null

),

final as (

    select
        product_id,
        product_variation_id,
        price ->> 'currency' as currency,
        cast(price ->> 'price' as numeric) as price,
        cast(price ->> 'cost' as numeric) as cost,
        cast(price ->> 'direct_cost' as numeric) as direct_cost,
        nullif(price ->> 'notes', '') as notes
    from (
        select * from product_prices
        union all
        select * from variation_prices
    ) as prices

)

select * from final
