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
%%
%% The module is also the callback module of the gen_servers (an echo server, a child
%% that crashes right after starting) and of the supervisor the OTP-behaviour cases use
%% (no -behaviour attributes: both behaviours require init/1, which erlc warns about).
-module(bench).
-export([run/4]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

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
    [{us_per_receive, us_per(T0, T1, N)}];

%% --------------------------------------------------------------------------- gen_server call

bench_case(Call, Params) when Call =:= call; Call =:= call_10k_queued ->
    N = param(n, Params),
    Junk = param(junk, Params),
    {ok, Server} = gen_server:start_link(?MODULE, echo, []),
    check = gen_server:call(Server, check),
    Metrics = case Junk of
        0 ->
            Time = time_calls(Server, N),
            [{us_per_call, Time / 1000 / N}];
        _ ->
            %% ABBA: empty, queued, queued, empty (half of N each), load drift cancels.
            Half = N div 2,
            E1 = time_calls(Server, Half),
            Self = self(),
            [Self ! {junk, J} || J <- lists:seq(1, Junk)],
            Q1 = time_calls(Server, Half),
            Q2 = time_calls(Server, Half),
            {message_queue_len, Junk} = process_info(Self, message_queue_len),
            flush_junk(Junk),
            {message_queue_len, 0} = process_info(Self, message_queue_len),
            E2 = time_calls(Server, Half),
            Empty = E1 + E2,
            Queued = Q1 + Q2,
            [{us_per_call, Queued / 1000 / (2 * Half)},
             {us_per_call_empty, Empty / 1000 / (2 * Half)},
             {queued_over_empty, Queued / Empty}]
    end,
    ok = gen_server:stop(Server),
    Metrics;

bench_case(call_100, Params) ->
    Clients = param(clients, Params),
    K = param(k, Params),
    Self = self(),
    {ok, Server} = gen_server:start_link(?MODULE, echo, []),
    Pids = [spawn_link(fun() -> call_client(Server, K, Self) end) || _ <- lists:seq(1, Clients)],
    [receive ready -> ok end || _ <- Pids],
    T0 = now_ns(),
    [P ! go || P <- Pids],
    [receive done -> ok end || _ <- Pids],
    T1 = now_ns(),
    ok = gen_server:stop(Server),
    [{us_per_call, us_per(T0, T1, Clients * K)}];

%% --------------------------------------------------------------------------- supervisor restart

%% Crash reports and supervisor reports are switched off (logger level none), as in the
%% Python implementations: the case measures restarting, not formatting reports.
bench_case(supervisor_restart, Params) ->
    Restarts = param(restarts, Params),
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, none),
    try
        {ok, Sup} = supervisor:start_link(?MODULE, {sup, self()}),
        First = receive {started, P0} -> P0 end,
        T0 = now_ns(),
        Last = wait_starts(Restarts, First),
        T1 = now_ns(),
        ok = gen_server:stop(Sup),
        true = is_pid(Last) andalso Last =/= First,
        [{us_per_restart, us_per(T0, T1, Restarts)}]
    after
        logger:set_primary_config(level, Level)
    end.

%% --------------------------------------------------------------------------- callbacks

%% gen_server: the echo server.
init(echo) ->
    {ok, nostate};
%% gen_server: the child that tells the driver it started, then crashes on the timeout.
init({crasher, Driver}) ->
    Driver ! {started, self()},
    {ok, Driver, 0};
%% supervisor: one_for_one over one permanent crasher; "no limit" on restarts.
init({sup, Driver}) ->
    Flags = #{strategy => one_for_one, intensity => 1000000000, period => 1},
    Child = #{id => crasher,
              start => {gen_server, start_link, [?MODULE, {crasher, Driver}, []]},
              restart => permanent},
    {ok, {Flags, [Child]}}.

handle_call(Request, _From, State) -> {reply, Request, State}.

handle_cast(_Request, State) -> {noreply, State}.

handle_info(timeout, Driver) when is_pid(Driver) -> error(crash);
handle_info(_Message, State) -> {noreply, State}.

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

time_calls(Server, N) ->
    T0 = now_ns(),
    call_loop(Server, N),
    now_ns() - T0.

call_loop(_Server, 0) -> ok;
call_loop(Server, K) ->
    K = gen_server:call(Server, K),
    call_loop(Server, K - 1).

call_client(Server, K, Driver) ->
    Driver ! ready,
    receive go -> ok end,
    call_loop(Server, K),
    Driver ! done.

flush_junk(0) -> ok;
flush_junk(K) -> receive {junk, _} -> flush_junk(K - 1) end.

wait_starts(0, Last) -> Last;
wait_starts(K, _) -> receive {started, P} -> wait_starts(K - 1, P) end.

selective_loop(0) -> ok;
selective_loop(K) ->
    self() ! {m, K},
    receive {m, _} -> ok end,
    selective_loop(K - 1).
