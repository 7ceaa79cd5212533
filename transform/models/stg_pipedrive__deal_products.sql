-- Products attached to deals, with the product's name.
-- materialized: ephemeral
SELECT
    deal_products.id,
    deal_products.deal_id,
    deal_products.product_id,
    products.name AS product_name,
    deal_products.quantity,
    deal_products.item_price,
    deal_products.sum,
    deal_products.currency
FROM {{ source('deal_products') }} AS deal_products
LEFT JOIN {{ ref('stg_pipedrive__products') }} AS products ON products.id = deal_products.product_id
WHERE deal_products.deal_id IS NOT NULL
