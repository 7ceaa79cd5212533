{#- Installments of deals (Growth plans and above): what is billed when. Deleted ones are marked. -#}
with source as (

    {{ pipeboard_read_source('deal_installments').sql }}

),

final as (

    select
        id,
        deal_id,
        amount,
        billing_date,
        description,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
