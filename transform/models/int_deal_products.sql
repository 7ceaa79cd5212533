-- Per deal: how many product lines, their total quantity and value, and the product names.
-- materialized: ephemeral
SELECT
    deal_id,
    count(*) AS products_count,
    sum(quantity) AS products_quantity,
    sum(sum) AS products_total_value,
    string_agg(DISTINCT product_name, ', ' ORDER BY product_name) AS product_names
FROM {{ ref('stg_pipedrive__deal_products') }} AS deal_products
GROUP BY deal_id
