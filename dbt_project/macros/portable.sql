{#-
  What DuckDB and Spark SQL spell differently, one macro each, dispatched on the adapter
  (adapter.dispatch): the default implementation is DuckDB's, the embedded engine's; spark__ is
  Spark SQL's. Everything else in the models is SQL both engines read alike, or dbt's own
  cross-database macros (dbt.dateadd, dbt.datediff, dbt.date_trunc, dbt.type_string, ...).
-#}

{#- Lower-case hex SHA-256 of a string expression. -#}
{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}

{% macro spark__sha256_hex(expression) -%}
    sha2({{ expression }}, 256)
{%- endmacro %}

{#- The string with every character that is not a digit removed. -#}
{% macro digits_only(expression) -%}
    {{ return(adapter.dispatch('digits_only')(expression)) }}
{%- endmacro %}

{% macro default__digits_only(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__digits_only(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '')
{%- endmacro %}

{#-
  The config of a model that is built day by day: each run replaces the days of its partition
  window (macros/window.sql) and keeps every other day.
  DuckDB: append after the pre-hook has deleted the window's rows.
  Spark: a Parquet table partitioned by the day, whose window partitions are overwritten
  (insert_overwrite: dbt-spark overwrites exactly the partitions the run's rows fall in, and every
  windowed model selects every day of its window, so the same days are replaced as on DuckDB).
-#}
{% macro windowed_incremental(day_column) -%}
    {{ return(adapter.dispatch('windowed_incremental')(day_column)) }}
{%- endmacro %}

{% macro default__windowed_incremental(day_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'pre_hook': "{{ delete_window('" ~ day_column ~ "') }}",
    }) }}
{%- endmacro %}

{% macro spark__windowed_incremental(day_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite',
        'file_format': 'parquet',
        'partition_by': [day_column],
    }) }}
{%- endmacro %}
