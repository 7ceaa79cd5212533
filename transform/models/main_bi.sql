-- main_bi: one row per deal (deleted and archived ones included) with every deal column, custom fields
-- included, and its stage, pipeline, owner, person, organization, activity and product facts.
-- materialized: table
-- unique_key: id
SELECT
    deals.*,
    stages.name AS stage_name,
    stages.order_nr AS stage_order_nr,
    stages.deal_probability AS stage_deal_probability,
    pipelines.name AS pipeline_name,
    pipelines.order_nr AS pipeline_order_nr,
    owners.name AS owner_name,
    owners.email AS owner_email,
    persons.name AS person_name,
    persons.primary_email AS person_primary_email,
    persons.primary_phone AS person_primary_phone,
    orgs.name AS org_name,
    orgs.address AS org_address,
    orgs.address_locality AS org_address_locality,
    orgs.address_country AS org_address_country,
    orgs.address_postal_code AS org_address_postal_code,
    coalesce(activities.activities_total, 0) AS activities_total,
    coalesce(activities.activities_done, 0) AS activities_done,
    coalesce(activities.activities_open, 0) AS activities_open,
    activities.last_activity_done_at,
    activities.next_activity_date,
    activities.next_activity_type,
    activities.next_activity_subject,
    coalesce(products.products_count, 0) AS products_count,
    coalesce(products.products_quantity, 0) AS products_quantity,
    coalesce(products.products_total_value, 0) AS products_total_value,
    products.product_names,
    deals.status = 'won' AS is_won,
    deals.status = 'lost' AS is_lost,
    deals.status = 'open' AND NOT coalesce(deals.is_deleted, false) AS is_open,
    current_date - deals.add_time::date AS age_days,
    CASE
        WHEN deals.status IN ('won', 'lost')
            THEN coalesce(deals.close_time, deals.won_time, deals.lost_time)::date - deals.add_time::date
    END AS days_to_close
FROM {{ ref('stg_pipedrive__deals') }} AS deals
LEFT JOIN {{ ref('stg_pipedrive__stages') }} AS stages ON stages.id = deals.stage_id
LEFT JOIN {{ ref('stg_pipedrive__pipelines') }} AS pipelines ON pipelines.id = coalesce(deals.pipeline_id, stages.pipeline_id)
LEFT JOIN {{ ref('stg_pipedrive__users') }} AS owners ON owners.id = deals.owner_id
LEFT JOIN {{ ref('stg_pipedrive__persons') }} AS persons ON persons.id = deals.person_id
LEFT JOIN {{ ref('stg_pipedrive__organizations') }} AS orgs ON orgs.id = deals.org_id
LEFT JOIN {{ ref('int_deal_activities') }} AS activities ON activities.deal_id = deals.id
LEFT JOIN {{ ref('int_deal_products') }} AS products ON products.deal_id = deals.id
