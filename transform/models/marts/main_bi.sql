{#- main_bi: one row per deal (deleted and archived ones included) with every deal column, custom fields
    included, and what a sales analyst asks next: stage, pipeline, owner, person and organization names (custom
    user/person/organization fields too), labels, weighted and converted values, activity, note and product
    facts, rotting, and when the row was loaded. -#}
{%- set deal_columns = pipeboard_deal_columns() -%}
{%- set references = pipeboard_deal_reference_fields(deal_columns) -%}
{%- set reference_models = {'user': 'users', 'org': 'organizations', 'people': 'persons'} -%}
{%- set reference_names = [] -%}
{%- for field in references -%}{%- do reference_names.append(field.column ~ '_name') -%}{%- endfor -%}
{%- set added = pipeboard_added_columns(reference_names) -%}
{%- set notes_loaded = pipeboard_source_exists('notes') -%}
{%- set activities_loaded = pipeboard_source_exists('activities') -%}
{%- set products_loaded = pipeboard_source_exists('deal_products') -%}
{#- Pipedrive's own counts of a deal (asked for through include_fields) that main_bi reports under the same
    name, from the loaded notes and deal products when those streams are loaded: not passed through twice. -#}
{%- set merged = ['notes_count', 'products_count'] -%}
{%- set deal_output = [] -%}
{%- for column in deal_columns if column != '_sdc_batched_at' and column not in merged -%}
  {%- do deal_output.append((column, 'custom_' ~ column if column in added else column)) -%}
{%- endfor -%}

with deals as (

    select * from {{ ref('stg_pipedrive__deals') }}

),

stages as (

    select * from {{ ref('stg_pipedrive__stages') }}

),

pipelines as (

    select * from {{ ref('stg_pipedrive__pipelines') }}

),

users as (

    select * from {{ ref('stg_pipedrive__users') }}

),

persons as (

    select * from {{ ref('stg_pipedrive__persons') }}

),

organizations as (

    select * from {{ ref('stg_pipedrive__organizations') }}

),

activities as (

    select * from {{ ref('int_deal_activities') }}

),

products as (

    select * from {{ ref('int_deal_products') }}

),

notes as (

    select * from {{ ref('int_deal_notes') }}

),

labels as (

    select * from {{ ref('int_deal_labels') }}

),

rates as (

    select * from {{ ref('int_currency_rates') }}

),

reporting as (

    select max(reporting_currency) as reporting_currency from rates

),

enriched as (

    select
        {#- every deal column; a custom field named like a column main_bi adds keeps its data as custom_<name> #}
        {%- for column, name in deal_output %}
        deals.{{ adapter.quote(column) }} as {{ adapter.quote(name) }},
        {%- endfor %}
        deals.status = 'open' and not deals.is_deleted as _pb_is_open,
        deals._sdc_batched_at as _pb_loaded_at,
        coalesce(deals.probability, stages.deal_probability) as _pb_probability,
        stages.is_deal_rot_enabled as _pb_rot_enabled,
        stages.days_to_rotten as _pb_days_to_rotten,
        stages.name as stage_name,
        stages.order_nr as stage_order_nr,
        stages.deal_probability as stage_deal_probability,
        pipelines.name as pipeline_name,
        pipelines.order_nr as pipeline_order_nr,
        owners.name as owner_name,
        owners.email as owner_email,
        creators.name as creator_name,
        persons.name as person_name,
        persons.primary_email as person_primary_email,
        persons.primary_phone as person_primary_phone,
        organizations.name as org_name,
        organizations.address as org_address,
        organizations.address_locality as org_address_locality,
        organizations.address_country as org_address_country,
        organizations.address_postal_code as org_address_postal_code,
        {%- for field in references %}
        reference_{{ loop.index }}.name as {{ adapter.quote(field.column ~ '_name') }},
        {%- endfor %}
        labels.label_names,
        reporting.reporting_currency,
        rates.rate_source as reporting_rate_source,
        rates.rate as _pb_rate,
        {#- counts from the loaded streams; without them, Pipedrive's counts of the deal -#}
        {%- if activities_loaded %}
        coalesce(activities.activities_total, 0) as activities_total,
        coalesce(activities.activities_done, 0) as activities_done,
        coalesce(activities.activities_open, 0) as activities_open,
        {%- else %}
        coalesce(deals.activities_count, 0) as activities_total,
        coalesce(deals.done_activities_count, 0) as activities_done,
        coalesce(deals.undone_activities_count, 0) as activities_open,
        {%- endif %}
        activities.last_activity_done_at,
        activities.next_activity_date,
        activities.next_activity_due_time,
        activities.next_activity_due_at,
        activities.next_activity_type,
        activities.next_activity_subject,
        {% if notes_loaded -%} coalesce(notes.notes_count, 0) {%- else -%} deals.notes_count {%- endif %}
            as notes_count,
        deals.email_messages_count as emails_count,
        {% if products_loaded -%}
            coalesce(products.products_count, 0)
        {%- else -%}
            coalesce(deals.products_count, 0)
        {%- endif %} as products_count,
        coalesce(products.products_quantity, 0) as products_quantity,
        coalesce(products.products_total_value, 0) as products_total_value,
        products.product_names
    from deals
    left join stages on stages.id = deals.stage_id
    left join pipelines on pipelines.id = coalesce(deals.pipeline_id, stages.pipeline_id)
    left join users as owners on owners.id = deals.owner_id
    left join users as creators on creators.id = deals.creator_user_id
    left join persons on persons.id = deals.person_id
    left join organizations on organizations.id = deals.org_id
    {%- for field in references %}
    left join {{ reference_models[field.field_type] }} as reference_{{ loop.index }}
        on reference_{{ loop.index }}.id = cast(deals.{{ adapter.quote(field.column) }} as bigint)
    {%- endfor %}
    left join labels on labels.deal_id = deals.id
    left join reporting on true
    left join rates on rates.currency = deals.currency
    left join activities on activities.deal_id = deals.id
    left join products on products.deal_id = deals.id
    left join notes on notes.deal_id = deals.id

),

final as (

    select
        {%- for column, name in deal_output %}
        {{ adapter.quote(name) }},
        {%- endfor %}
        stage_name,
        stage_order_nr,
        stage_deal_probability,
        pipeline_name,
        pipeline_order_nr,
        owner_name,
        owner_email,
        creator_name,
        person_name,
        person_primary_email,
        person_primary_phone,
        org_name,
        org_address,
        org_address_locality,
        org_address_country,
        org_address_postal_code,
        {%- for name in reference_names %}
        {{ adapter.quote(name) }},
        {%- endfor %}
        label_names,
        value * _pb_probability * 0.01 as weighted_value,
        reporting_currency,
        reporting_rate_source,
        value * _pb_rate as value_reporting,
        value * _pb_probability * 0.01 * _pb_rate as weighted_value_reporting,
        activities_total,
        activities_done,
        activities_open,
        last_activity_done_at,
        case when _pb_is_open then next_activity_date end as next_activity_date,
        case when _pb_is_open then next_activity_due_time end as next_activity_due_time,
        case when _pb_is_open then next_activity_due_at end as next_activity_due_at,
        case when _pb_is_open then next_activity_type end as next_activity_type,
        case when _pb_is_open then next_activity_subject end as next_activity_subject,
        coalesce(_pb_is_open and next_activity_due_at < now(), false) as is_overdue,
        notes_count,
        emails_count,
        products_count,
        products_quantity,
        products_total_value,
        product_names,
        status = 'won' as is_won,
        status = 'lost' as is_lost,
        _pb_is_open as is_open,
        not is_deleted and not coalesce(is_archived, false) as is_active,
        coalesce(
            _pb_is_open
            and _pb_rot_enabled
            and _pb_days_to_rotten is not null
            and greatest(coalesce(stage_change_time, add_time), last_activity_done_at)
                < now() - make_interval(days => cast(_pb_days_to_rotten as integer)),
            false
        ) as is_rotting,
        {{ pipeboard_utc_date('now()') }} - {{ pipeboard_utc_date('add_time') }} as age_days,
        case
            when status in ('won', 'lost')
                then {{ pipeboard_utc_date('coalesce(close_time, won_time, lost_time)') }}
                    - {{ pipeboard_utc_date('add_time') }}
        end as days_to_close,
        _pb_loaded_at as loaded_at
    from enriched

)

select * from final
