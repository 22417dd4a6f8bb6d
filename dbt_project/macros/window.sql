{#-
  The partition window of an incremental run.

  window_filter(column, extra_days): `column` falls in [start_date - lookback_days - extra_days, end_date]
  when the run has a window and the model already exists; always true otherwise (first build or full
  refresh). extra_days reaches further back for trailing measures.
  ingest_filter(column, extra_days): the raw partitions (`dt`) that can hold rows of that window
  (reaching extra_days further back): from the window's first day to its last day plus the
  allowed lateness.
-#}
{#-
  A bound of the window: the dbt var (`--vars`) when given, else the environment variable
  DMP_DBT_START_DATE / DMP_DBT_END_DATE that the Dagster step sets. The environment keeps dbt's
  partial parsing valid from run to run (changed --vars force a full re-parse); an empty value
  means no window.
-#}
{% macro window_bound(name) -%}
    {%- set value = var(name) -%}
    {%- if value is none -%}
        {%- set value = env_var('DMP_DBT_' ~ (name | upper), '') -%}
    {%- endif -%}
    {{ return(value if value else none) }}
{%- endmacro %}

{% macro has_window() -%}
    {{ return(is_incremental() and window_bound('start_date') is not none and window_bound('end_date') is not none) }}
{%- endmacro %}

{% macro window_start() -%}
    {{ dbt.dateadd('day', -1 * var('lookback_days'), "cast('" ~ window_bound('start_date') ~ "' as date)") }}
{%- endmacro %}

{% macro window_end() -%}
    cast('{{ window_bound("end_date") }}' as date)
{%- endmacro %}

{% macro window_filter(column, extra_days=0) -%}
    {%- if has_window() -%}
        cast({{ column }} as date) between cast({{ dbt.dateadd('day', -1 * (var('lookback_days') + extra_days), "cast('" ~ window_bound('start_date') ~ "' as date)") }} as date) and {{ window_end() }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{% macro ingest_filter(column='dt', extra_days=0) -%}
    {%- if has_window() -%}
        {{ column }} between cast({{ dbt.dateadd('day', -1 * (var('lookback_days') + extra_days), "cast('" ~ window_bound('start_date') ~ "' as date)") }} as date)
            and cast({{ dbt.dateadd('day', var('lateness_days'), window_end()) }} as date)
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- Divide, giving null instead of an error or infinity when the denominator is zero or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#-
  Pre-hook of every windowed incremental model: delete the window's rows, so the append that
  follows replaces the window exactly (rows that vanished from the source vanish here too).
  An incremental run without a window rebuilds every day, so it first deletes every row.
-#}
{% macro delete_window(column) -%}
    {%- if has_window() -%}
        delete from {{ this }} where cast({{ column }} as date) between cast({{ window_start() }} as date) and {{ window_end() }}
    {%- elif is_incremental() -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#-
  Money divided by a count, rounded to the cent exactly, half away from zero (as a decimal cast
  rounds): the division runs on integer cents, so no binary floating-point error can move a half
  cent, and DuckDB and Spark give the same cent (null when the count is 0).
-#}
{% macro money_per(amount, count) -%}
    {%- set cents = 'cast(round((' ~ amount ~ ') * 100) as bigint)' -%}
    case when {{ count }} > 0 then
        cast(cast(sign({{ cents }}) * floor((abs({{ cents }}) * 2 + {{ count }}) / (2.0 * {{ count }})) as decimal(18, 0))
             * cast(0.01 as decimal(3, 2)) as decimal(18, 2))
    end
{%- endmacro %}

{#-
  The rows of `relation` (a model or a CTE name) that come first in their `partition_by` group
  by `order_by`: one row per key. The result keeps a `dedupe_rank` column (always 1); select the
  columns you need from it.
-#}
{% macro deduplicate(relation, partition_by, order_by) -%}
    select * from (
        select
            deduplicated_source.*,
            row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as dedupe_rank
        from {{ relation }} as deduplicated_source
    ) as ranked
    where dedupe_rank = 1
{%- endmacro %}

{#- A one-row relation with `present`: whether `relation` holds any row (read with a limit). -#}
{% macro has_rows(relation, column) -%}
    select count(*) > 0 as present from (select {{ column }} from {{ relation }} limit 1) as probe
{%- endmacro %}
