{#- Per deal: the names of its labels, in the order of label_ids. -#}
with deals as (

    select id, label_ids from {{ ref('stg_pipedrive__deals') }}

),

labels as (

    select * from {{ ref('stg_pipedrive__deal_labels') }}

),

final as (

    select
        deals.id as deal_id,
        string_agg(coalesce(labels.label_name, deal_labels.label_id), ', ' order by deal_labels.position)
            as label_names
    from deals
    cross join lateral jsonb_array_elements_text(
        case when jsonb_typeof(deals.label_ids) = 'array' then deals.label_ids else '[]'::jsonb end
    ) with ordinality as deal_labels (label_id, position)
    left join labels on labels.label_id = deal_labels.label_id
    group by deals.id

)

select * from final
