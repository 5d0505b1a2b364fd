# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for sigbrokerctl(1)                     -*- shell-script -*-
#
# Commands, their options, signal names, table columns (-o, as the
# command's --help lists them), and live values from the daemon where it
# helps: client ids (disconnect, send --client) and named groups
# (send/listen --group), asked with the same --socket, --user or --system
# as the command line.

_sigbrokerctl_signals()
{
    local n
    printf '%s\n' HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE \
        ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM \
        PROF WINCH IO PWR SYS RTMIN RTMAX
    for ((n = 1; n <= 15; n++)); do
        printf 'RTMIN+%d\nRTMAX-%d\n' "$n" "$n"
    done
}

# The daemon's answer, with the --socket, --user or --system of the
# command line if any.
_sigbrokerctl_query()
{
    local socket=() i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -s | --socket) socket=(--socket "${COMP_WORDS[i + 1]}") ;;
            --socket=* | --user | --system) socket=("${COMP_WORDS[i]}") ;;
        esac
    done
    "${COMP_WORDS[0]}" "${socket[@]}" --json "$@" 2>/dev/null
}

# The columns a command's -o takes, from its --help.
_sigbrokerctl_columns()
{
    "${COMP_WORDS[0]}" "$1" --help 2>/dev/null | sed -n '/^Columns/,$p' | sed -n 's/^ [ *]\([A-Z0-9-]*\) .*/\1/p'
}

_sigbrokerctl_clients()
{
    _sigbrokerctl_query clients | grep -o '{"id":[0-9]*' | cut -d: -f2
}

_sigbrokerctl_groups()
{
    _sigbrokerctl_query groups | grep -o '{"name":"[^"]*"' | cut -d'"' -f4
}

_sigbrokerctl()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi

    local commands='send listen monitor clients groups stats status reload disconnect exec'
    local global='--socket --user --system --json --output --no-legend --help --version'
    local command= i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -s | --socket | -o | --output) ((i++)) ;;
            -*) ;;
            *) command=${words[i]}; break ;;
        esac
    done

    case $prev in
        -s | --socket)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --payload-file)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --pid | --pgid | --sid)
            COMPREPLY=($(compgen -W "$(ps -e -o pid= 2>/dev/null)" -- "$cur"))
            return ;;
        --client)
            COMPREPLY=($(compgen -W "$(_sigbrokerctl_clients)" -- "$cur"))
            return ;;
        -g | --group)
            COMPREPLY=($(compgen -W "$(_sigbrokerctl_groups)" -- "$cur"))
            return ;;
        -o | --output)
            # A comma-separated list: complete its last name.
            local done=${cur%"${cur##*,}"}
            [[ -n $command ]] &&
                COMPREPLY=($(compgen -P "$done" -W "$(_sigbrokerctl_columns "$command")" -- "${cur##*,}"))
            return ;;
        -p | --priority | --payload | -c | --count | -t | --timeout | -w | --window | -d | --delay)
            return ;;
    esac

    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local options
    case $command in
        send) options='--pid --pgid --sid --group --client --broadcast --priority --payload --payload-file --quiet' ;;
        listen) options='--count --timeout --group --window --delay --drop-oldest' ;;
        monitor) options='--count' ;;
        stats) options='--openmetrics --output --no-legend' ;;
        clients | groups) options='--output --no-legend' ;;
        status) options='--no-legend' ;;
        exec) options='--group --signal --payload-fd --window' ;;
        *) options= ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options --json --socket --user --system --help" -- "$cur"))
        return
    fi
    case $command in
        send | listen)
            COMPREPLY=($(compgen -W "$(_sigbrokerctl_signals)" -- "${cur^^}")) ;;
        disconnect)
            COMPREPLY=($(compgen -W "$(_sigbrokerctl_clients)" -- "$cur")) ;;
    esac
} &&
    complete -F _sigbrokerctl sigbrokerctl

# ex: filetype=sh
