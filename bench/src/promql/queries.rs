//! The query set of `strata bench promql`: every function, operator and modifier the engine
//! supports, over the dataset's host metrics (gauges, counters, filesystems, a histogram),
//! each expression asked as an instant query and, where it gives a vector or scalar, as a
//! range query.

/// The expressions compared.
pub fn expressions() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |e: &str| out.push(e.to_string());
    let gauges = [
        "host_load1",
        "host_memory_used_bytes",
        "host_cpu_usage_ratio",
    ];
    let counters = [
        "host_cpu_seconds_total",
        "host_network_receive_bytes_total",
        "host_context_switches_total",
    ];
    // selectors
    for e in [
        "host_load1",
        "host_cpu_usage_ratio{cpu=\"total\"}",
        "host_cpu_usage_ratio{cpu!=\"total\"}",
        "host_cpu_seconds_total{mode=~\"idle|user\"}",
        "host_filesystem_size_bytes{mountpoint!~\"/boot.*\"}",
        "{__name__=~\"host_load(1|5)\"}",
        "host_load1 offset 10m",
        "host_load1 @ end()",
        "host_load1 @ start()",
        "nonexistent_metric",
    ] {
        add(e);
    }
    // functions of range vectors
    for c in counters {
        for f in [
            "rate", "irate", "increase", "delta", "idelta", "resets", "changes",
        ] {
            add(&format!("{f}({c}[5m])"));
        }
        add(&format!("rate({c}[1m])"));
        add(&format!("rate({c}[10m] offset 5m)"));
    }
    for g in gauges {
        for f in [
            "avg_over_time",
            "min_over_time",
            "max_over_time",
            "sum_over_time",
            "count_over_time",
            "last_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "present_over_time",
            "deriv",
            "changes",
        ] {
            add(&format!("{f}({g}[5m])"));
        }
        add(&format!("quantile_over_time(0.9, {g}[10m])"));
        add(&format!("predict_linear({g}[15m], 3600)"));
    }
    // aggregations
    for op in [
        "sum", "avg", "min", "max", "count", "stddev", "stdvar", "group",
    ] {
        add(&format!("{op}(host_cpu_usage_ratio)"));
        add(&format!("{op} by (agent) (host_cpu_usage_ratio)"));
        add(&format!("{op} without (cpu) (host_cpu_usage_ratio)"));
    }
    for e in [
        "topk(3, host_load1)",
        "bottomk(2, host_load1)",
        "topk by (agent) (1, host_cpu_usage_ratio)",
        "quantile(0.5, host_load1)",
        "quantile by (cpu) (0.9, host_cpu_usage_ratio)",
        "count_values(\"mode_count\", count by (agent) (host_cpu_seconds_total))",
        "sum by (mode) (rate(host_cpu_seconds_total[5m]))",
        "avg by (agent) (rate(host_cpu_seconds_total{mode!=\"idle\"}[5m]))",
        "sum(rate(host_network_receive_bytes_total[5m])) by (agent)",
        "max by (agent, device) (host_filesystem_used_ratio)",
    ] {
        add(e);
    }
    // binary operators
    for e in [
        "host_load1 * 2",
        "2 - host_load1",
        "host_load1 / 0",
        "host_load1 % 0.3",
        "host_load1 ^ 2",
        "-host_load1",
        "host_memory_used_bytes / host_memory_total_bytes",
        "host_memory_used_bytes / on(agent) host_memory_total_bytes",
        "host_memory_used_bytes / ignoring(region) host_memory_total_bytes",
        "host_cpu_usage_ratio / on(agent) group_left host_load1",
        "host_load1 * on(agent) group_right host_cpu_usage_ratio",
        "host_cpu_usage_ratio * on(agent) group_left(__name__) host_load1",
        "host_load1 > 1",
        "host_load1 < bool 1",
        "1 < host_load1",
        "host_load1 >= host_load5",
        "host_load1 != bool host_load5",
        "host_load1 == host_load1",
        "host_load1 and host_load5 > 1",
        "host_load1 or host_load5",
        "host_load1 unless host_load5 > 1",
        "host_load1 and on(agent) host_cpu_usage_ratio > 0.5",
        "host_load1 or on(agent) host_load5",
        "1 + 2 * 3",
        "2 ^ 3 ^ 2",
        "10 % 3",
        "1 > bool 0",
        "host_load1 atan2 host_load5",
        "sum(host_load1) / count(host_load1)",
    ] {
        add(e);
    }
    // functions of instant vectors
    for f in [
        "abs", "ceil", "floor", "sqrt", "exp", "ln", "log2", "log10", "sgn", "sin", "cos", "tanh",
        "deg", "rad",
    ] {
        add(&format!("{f}(host_load1 - 1)"));
    }
    for e in [
        "round(host_load1)",
        "round(host_load1, 0.25)",
        "clamp(host_load1, 0.5, 1.5)",
        "clamp_min(host_load1, 1)",
        "clamp_max(host_load1, 1)",
        "timestamp(host_load1)",
        "time()",
        "vector(1)",
        "scalar(sum(host_load1))",
        "vector(time())",
        "day_of_month()",
        "day_of_week()",
        "day_of_year()",
        "days_in_month()",
        "hour()",
        "minute()",
        "month()",
        "year()",
        "hour(timestamp(host_load1))",
        "absent(nonexistent_metric{job=\"x\"})",
        "absent(host_load1)",
        "absent_over_time(nonexistent_metric[5m])",
        "label_replace(host_load1, \"host\", \"$1\", \"agent\", \"sim-(.*)\")",
        "label_replace(host_load1, \"foo\", \"bar\", \"agent\", \"nomatch\")",
        "label_join(host_load1, \"both\", \"-\", \"agent\", \"region\")",
        "sort(host_load1)",
        "sort_desc(host_load1)",
        "histogram_quantile(0.9, rate(bench_request_seconds_bucket[5m]))",
        "histogram_quantile(0.5, sum by (le) (rate(bench_request_seconds_bucket[5m])))",
        "histogram_quantile(0.99, sum by (agent, le) (rate(bench_request_seconds_bucket[10m])))",
        "pi()",
    ] {
        add(e);
    }
    // subqueries
    for e in [
        "max_over_time(host_load1[10m:1m])",
        "avg_over_time(rate(host_cpu_seconds_total{mode=\"user\"}[5m])[15m:1m])",
        "min_over_time(sum(host_load1)[10m:2m] offset 5m)",
        "rate(host_context_switches_total[5m:30s])",
    ] {
        add(e);
    }
    out
}
