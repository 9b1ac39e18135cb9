# bash completion for mptcpd(8)                            -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/mptcpd.

_mptcpd_netns()
{
    local names
    names=$(command ls -1 /run/netns 2>/dev/null)
    COMPREPLY=($(compgen -W "$names" -- "$cur"))
    [[ $cur == */* ]] && _filedir
}

_mptcpd()
{
    local cur prev words cword
    _init_completion || return

    local commands="help endpoint limits monitor check plan apply show run
        reload status version"
    local global_opts="-netns -json -pretty -batch -force -help -Version"
    local flags="signal subflow backup fullmesh laminar"

    # Find the command: the first word that is neither a global option nor
    # the value of one.
    local i cmd="" cmd_at=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -n | -ne | -net | -netn | -netns | --netns | -b | -ba | -bat | -batc | -batch | --batch)
                ((i++))
                ;;
            -*) ;;
            *)
                cmd=${words[i]}
                cmd_at=$i
                break
                ;;
        esac
    done

    if [[ -z $cmd ]]; then
        case $prev in
            -n | -netns | --netns)
                _mptcpd_netns
                return
                ;;
            -b | -batch | --batch)
                _filedir
                return
                ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    case $prev in
        -c)
            _filedir '@(yaml|yml)'
            return
            ;;
        --state-dir)
            _filedir -d
            return
            ;;
        -o)
            case $cmd in
                show) COMPREPLY=($(compgen -W "yaml json" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
            esac
            return
            ;;
        --log-format)
            COMPREPLY=($(compgen -W "auto console json journal" -- "$cur"))
            return
            ;;
        --log-level)
            COMPREPLY=($(compgen -W "debug info warn error" -- "$cur"))
            return
            ;;
        --resync-interval | --min-interval | --timeout | --metrics-listen | id | port | subflows | add_addr_accepted)
            return
            ;;
        dev)
            COMPREPLY=($(compgen -W "$(command ls -1 /sys/class/net 2>/dev/null)" -- "$cur"))
            return
            ;;
    esac

    local sub=${words[cmd_at + 1]}
    case $cmd in
        check)
            COMPREPLY=($(compgen -W "-c" -- "$cur"))
            ;;
        plan)
            COMPREPLY=($(compgen -W "-c -o --detailed-exitcode" -- "$cur"))
            ;;
        apply)
            COMPREPLY=($(compgen -W "-c" -- "$cur"))
            ;;
        show)
            COMPREPLY=($(compgen -W "-o" -- "$cur"))
            ;;
        status)
            COMPREPLY=($(compgen -W "-o --state-dir --timeout" -- "$cur"))
            ;;
        run)
            COMPREPLY=($(compgen -W "-c --resync-interval --min-interval
                --state-dir --metrics-listen --log-format --log-level" -- "$cur"))
            ;;
        reload)
            COMPREPLY=($(compgen -W "--state-dir --timeout" -- "$cur"))
            ;;
        help)
            ((cword == cmd_at + 1)) &&
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            ;;
        endpoint | endpoin | endpoi | endpo | endp | end | en | e)
            if ((cword == cmd_at + 1)); then
                COMPREPLY=($(compgen -W "add delete change show flush" -- "$cur"))
                return
            fi
            case $sub in
                a | ad | add)
                    COMPREPLY=($(compgen -W "dev id port $flags" -- "$cur"))
                    ;;
                c | ch | cha | chan | chang | change)
                    COMPREPLY=($(compgen -W "id port backup nobackup fullmesh nofullmesh" -- "$cur"))
                    ;;
                d | de | del | dele | delet | delete | s | sh | sho | show)
                    COMPREPLY=($(compgen -W "id" -- "$cur"))
                    ;;
            esac
            ;;
        limits | limit | limi | lim | li | l)
            if ((cword == cmd_at + 1)); then
                COMPREPLY=($(compgen -W "set show" -- "$cur"))
                return
            fi
            [[ $sub == s || $sub == se || $sub == set ]] &&
                COMPREPLY=($(compgen -W "subflows add_addr_accepted" -- "$cur"))
            ;;
    esac
} &&
    complete -F _mptcpd mptcpd

# ex: filetype=sh
