{#-
  persist_docs writes the descriptions the YAML holds. main_bi also passes through every loaded deal column,
  custom fields included, which no YAML can list in advance; pipeboard_describe_columns gives each column of
  `relation` that has no YAML description one from, in this order:
    1. the deals source YAML (standard deal fields);
    2. the deal field metadata (deal_fields): the custom field's Pipedrive name and type, also for its
       _currency/_until/address-part columns, its <column>_name column and its custom_<column> rename;
    3. a generic "loaded from Pipedrive" sentence,
  so `\d+ main_bi` shows a description on every column.
-#}

{% macro pipeboard_describe_columns(relation) -%}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set known = {} -%}
  {%- for name, column in pipeboard_source_node('deals').columns.items() if column.description -%}
    {%- do known.update({name: column.description}) -%}
  {%- endfor -%}
  {%- for name, column in model.columns.items() if column.description -%}
    {%- do known.update({name: column.description}) -%}
  {%- endfor -%}
  {%- set fields = {} -%}
  {%- if pipeboard_source_exists('deal_fields') -%}
    {%- set query -%}
      select column_name, field_name, field_type, coalesce(is_custom_field, false)
      from {{ source('pipedrive', 'deal_fields') }}
      where column_name is not null
      order by is_custom_field, field_code
    {%- endset -%}
    {%- for row in run_query(query).rows -%}
      {%- do fields.update({row[0]: {'name': row[1], 'type': row[2], 'custom': row[3]}}) -%}
    {%- endfor -%}
  {%- endif -%}
  {%- set parts = {'_currency': 'Currency of', '_until': 'End of the range of',
                   '_street_number': 'Street number of', '_route': 'Street of', '_subpremise': 'Subpremise of',
                   '_sublocality': 'Sublocality of', '_locality': 'City of',
                   '_admin_area_level_1': 'State or region of', '_admin_area_level_2': 'County of',
                   '_country': 'Country of', '_postal_code': 'Postal code of',
                   '_formatted_address': 'Formatted address of', '_name': 'Name of the user, person or organization in'} -%}
  {%- set statements = [] -%}
  {%- for column in adapter.get_columns_in_relation(relation) if column.name not in model.columns
                                                              or not model.columns[column.name].description -%}
    {%- set name = column.name -%}
    {%- set base = name[7:] if name.startswith('custom_') and name[7:] in fields else name -%}
    {%- set ns = namespace(text=known.get(name)) -%}
    {%- if ns.text is none and base in fields -%}
      {%- set field = fields[base] -%}
      {%- set ns.text = ('Pipedrive custom field' if field.custom else 'Pipedrive deal field') ~ ' "' ~ field.name
                        ~ '" (' ~ field.type ~ ')'
                        ~ (', renamed: its name is one main_bi uses for a column of its own' if base != name else '')
                        ~ '.' -%}
    {%- endif -%}
    {%- if ns.text is none -%}
      {%- for suffix, words in parts.items() if ns.text is none and name.endswith(suffix)
                                                and name[:-(suffix | length)] in fields -%}
        {%- set ns.text = words ~ ' the Pipedrive custom field "' ~ fields[name[:-(suffix | length)]].name ~ '".' -%}
      {%- endfor -%}
    {%- endif -%}
    {%- if ns.text is none -%}
      {%- set ns.text = 'Deal column "' ~ name ~ '" as loaded from Pipedrive (no field metadata describes it).' -%}
    {%- endif -%}
    {%- do statements.append('comment on column ' ~ relation ~ '.' ~ adapter.quote(name) ~ ' is '
                             ~ postgres_escape_comment(ns.text)) -%}
  {%- endfor -%}
  {%- if statements -%}
    {%- call statement('describe_columns') -%}
      {{ statements | join(';\n') }}
    {%- endcall -%}
  {%- endif -%}
{%- endmacro %}


{% macro pipeboard_copy_column_comments(from_relation, to_relation) -%}
  {#- Give every column of `to_relation` (a view) the comment of the same column of `from_relation`. -#}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set query -%}
    select format('comment on column %s.%I is %L', {{ pipeboard_literal(to_relation) }}, target.attname,
                  col_description(source.attrelid, source.attnum))
    from pg_attribute as target
    join pg_attribute as source
        on source.attrelid = {{ pipeboard_literal(from_relation) }}::regclass and source.attname = target.attname
    where target.attrelid = {{ pipeboard_literal(to_relation) }}::regclass
        and target.attnum > 0 and not target.attisdropped
        and col_description(source.attrelid, source.attnum) is not null
  {%- endset -%}
  {%- for row in run_query(query).rows -%}
    {%- do run_query(row[0]) -%}
  {%- endfor -%}
  {{ return('') }}
{%- endmacro %}
