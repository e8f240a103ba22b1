%% The Erlang/OTP twin of bench/cases_beamlike.py and bench/cases_gevent.py.
%%
%% Compiled at run time by bench/_harness.py (erlc -o <tmpdir>) and run on one scheduler:
%%
%%   erl +S 1:1 -noshell -pa <tmpdir> -eval 'bench:run(ring, [{procs,1000},{rounds,100}], [{procs,1000},{rounds,5}], 5)' -s init stop
%%
%% run(Case, Params, WarmupParams, Repeat) runs the case once with WarmupParams (untimed,
%% skipped when []), then Repeat times with Params, each repetition in a fresh driver
%% process, and prints one line per metric and repetition:
%%
%%   BENCH <metric> <float>
%%   BENCH_ERROR <term>
-module(bench).
-export([run/4]).

run(Case, Params, Warmup, Repeat) ->
    try
        case Warmup of
            [] -> ok;
            _ -> in_fresh_process(Case, Warmup)
        end,
        lists:foreach(
            fun(_) ->
                Metrics = in_fresh_process(Case, Params),
                [io:format("BENCH ~s ~.6f~n", [M, float(V)]) || {M, V} <- Metrics]
            end,
            lists:seq(1, Repeat))
    catch
        Class:Reason -> io:format("BENCH_ERROR ~w:~w~n", [Class, Reason])
    end.

%% Run one repetition in a new process (a fresh heap, like a fresh beamlike Node).
in_fresh_process(Case, Params) ->
    Parent = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Parent ! {self(), result, bench_case(Case, Params)} end),
    receive
        {Pid, result, Metrics} ->
            erlang:demonitor(Ref, [flush]),
            Metrics;
        {'DOWN', Ref, process, Pid, Reason} ->
            error({case_crashed, Case, Reason})
    end.

param(Key, Params) ->
    case lists:keyfind(Key, 1, Params) of
        {Key, Value} -> Value;
        false -> error({missing_param, Key})
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

us_per(T0, T1, Count) -> (T1 - T0) / 1000 / Count.

%% --------------------------------------------------------------------------- spawn + exit

bench_case(spawn_exit, Params) ->
    N = param(n, Params),
    Base = erlang:processes(),
    T0 = now_ns(),
    spawn_trivial(N - 1),
    Last = spawn(fun trivial/0),
    Ref = monitor(process, Last),
    receive {'DOWN', Ref, process, Last, _} -> ok end,
    %% FIFO run queue: the others are gone too. Confirm it, inside the timing.
    wait_all(erlang:processes() -- Base),
    T1 = now_ns(),
    [{us_per_proc, us_per(T0, T1, N)}];

%% --------------------------------------------------------------------------- idle processes

bench_case(spawn_idle, Params) ->
    N = param(n, Params),
    Warm = 1000,
    Self = self(),
    WarmPids = spawn_idle(Warm, Self),
    receive ready -> ok end,
    erlang:garbage_collect(),
    M0 = erlang:memory(total),
    Rss0 = rss_bytes(),
    T0 = now_ns(),
    Pids = spawn_idle(N, Self),
    receive ready -> ok end,
    T1 = now_ns(),
    erlang:garbage_collect(),
    M1 = erlang:memory(total),
    Rss1 = rss_bytes(),
    Probes = [hd(Pids), lists:nth(N div 2 + 1, Pids), lists:last(Pids)],
    [{status, waiting} = process_info(P, status) || P <- Probes],
    {memory, ProcMem} = process_info(lists:last(Pids), memory),
    Warm = length(WarmPids),
    [{us_per_spawn, us_per(T0, T1, N)},
     {bytes_per_proc, (M1 - M0) / N},
     {rss_bytes_per_proc, (Rss1 - Rss0) / N},
     {process_info_memory, ProcMem},
     {rss_mb, Rss1 / 1048576}];

%% --------------------------------------------------------------------------- ring

bench_case(ring, Params) ->
    Procs = param(procs, Params),
    Rounds = param(rounds, Params),
    Hops = Procs * Rounds,
    Self = self(),
    Pids = [spawn(fun() -> ring_start(Self) end) || _ <- lists:seq(1, Procs)],
    connect_ring(Pids, hd(Pids)),
    [receive ready -> ok end || _ <- Pids],
    T0 = now_ns(),
    hd(Pids) ! Hops - 1,
    receive done -> ok end,
    T1 = now_ns(),
    [P ! stop || P <- Pids],
    [{us_per_hop, us_per(T0, T1, Hops)}];

%% --------------------------------------------------------------------------- ping-pong

bench_case(pingpong, Params) ->
    N = param(n, Params),
    Self = self(),
    Pong = spawn(fun() -> Self ! ready, pong() end),
    receive ready -> ok end,
    T0 = now_ns(),
    ping(Pong, N),
    T1 = now_ns(),
    Pong ! stop,
    [{us_per_roundtrip, us_per(T0, T1, N)}];

%% --------------------------------------------------------------------------- selective receive

bench_case(Selective, Params) when Selective =:= selective_empty; Selective =:= selective_10k ->
    N = param(n, Params),
    Junk = param(junk, Params),
    Self = self(),
    [Self ! {junk, J} || J <- lists:seq(1, Junk)],
    selective_loop(3),
    T0 = now_ns(),
    selective_loop(N),
    T1 = now_ns(),
    {message_queue_len, Junk} = process_info(Self, message_queue_len),
    [{us_per_receive, us_per(T0, T1, N)}].

%% --------------------------------------------------------------------------- helpers

trivial() -> ok.

spawn_trivial(0) -> ok;
spawn_trivial(K) -> spawn(fun trivial/0), spawn_trivial(K - 1).

wait_all([]) -> ok;
wait_all([P | Rest]) ->
    Ref = monitor(process, P),
    receive {'DOWN', Ref, process, P, _} -> wait_all(Rest) end.

%% N processes blocked in receive; the last one tells Parent it started (FIFO run queue:
%% by then all earlier ones are blocked).
spawn_idle(N, Parent) -> spawn_idle(N - 1, Parent, [spawn(fun() -> Parent ! ready, idle() end)]).

spawn_idle(0, _Parent, Acc) -> Acc;
spawn_idle(K, Parent, Acc) -> spawn_idle(K - 1, Parent, [spawn(fun idle/0) | Acc]).

idle() -> receive stop -> ok end.

rss_bytes() ->
    {ok, Statm} = file:read_file("/proc/" ++ os:getpid() ++ "/statm"),
    [_Size, Resident | _] = binary:split(Statm, <<" ">>, [global]),
    binary_to_integer(Resident) * 4096.

ring_start(Parent) ->
    receive {next, Next} -> Parent ! ready, ring_loop(Parent, Next) end.

ring_loop(Parent, Next) ->
    receive
        0 -> Parent ! done, ring_loop(Parent, Next);
        stop -> ok;
        Token -> Next ! Token - 1, ring_loop(Parent, Next)
    end.

connect_ring([Last], First) -> Last ! {next, First}, ok;
connect_ring([P, Q | Rest], First) -> P ! {next, Q}, connect_ring([Q | Rest], First).

pong() ->
    receive
        stop -> ok;
        {From, _} = Msg -> From ! Msg, pong()
    end.

ping(_Pong, 0) -> ok;
ping(Pong, K) ->
    Pong ! {self(), K},
    receive _Reply -> ok end,
    ping(Pong, K - 1).

selective_loop(0) -> ok;
selective_loop(K) ->
    self() ! {m, K},
    receive {m, _} -> ok end,
    selective_loop(K - 1).
