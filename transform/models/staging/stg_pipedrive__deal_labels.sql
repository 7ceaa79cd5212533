{#- The deal labels' names: the options of the label field in the deal field metadata (v2 label_ids, v1 label). -#}
with source as (

    {{ pipeboard_read_source('deal_fields').sql }}

),

final as (

    select distinct on (label_id)
        cast(entry ->> 'id' as text) as label_id,
        entry ->> 'label' as label_name
    from source
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(source.options) = 'array' then source.options else '[]'::jsonb end
    ) as entries (entry)
    where source.field_code in ('label_ids', 'label')
        and entry ->> 'id' is not null
    order by label_id, source.field_code desc

)

select * from final
