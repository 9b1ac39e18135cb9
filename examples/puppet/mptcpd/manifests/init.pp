# @summary Keeps /etc/mptcpd.yaml as given and reloads mptcpd when it changes.
#
# The file is checked by mptcpd itself (validate_cmd) before it replaces the
# old one: a file the daemon would reject never reaches the host, the run
# reports a failure, and the file in force stays as it was. On a change the
# service is refreshed with `systemctl reload mptcpd`, which returns once
# the daemon has applied the file and fails if it was refused.
#
# A section that is left undef is left out of the file, and mptcpd then
# leaves that part of the kernel alone: with every default the file changes
# nothing.
#
# @param limits
#   subflows and add_addr_accepted (each optional, 0..8).
# @param endpoints
#   Entries as mptcpd.yaml(5) has them: each a Hash with address or
#   interface, and optionally dev, id, port, family and flags (an Array).
#   An empty Array means "no endpoints"; undef means "not managed".
# @param sysctl
#   net.mptcp.* sysctls of the namespace, by name without the prefix.
# @param ownership
#   exclusive or shared.
# @param config_path
#   Where the file goes.
# @param binary
#   The mptcpd program, used to validate the file.
# @param reload_command
#   How the service is told to apply the file.
# @param service_name
#   The service to keep running.
# @param service_provider
#   The service provider; undef lets Puppet choose (systemd). With `base`,
#   set service_status too, and the service is not enabled at boot.
# @param service_status
#   A command that exits 0 while the daemon runs (for the `base` provider),
#   for instance `mptcpd -n blue status`.
# @param owner
#   Owner of the file.
# @param group
#   Group of the file.
#
# @example
#   class { 'mptcpd':
#     limits    => { 'subflows' => 2, 'add_addr_accepted' => 2 },
#     endpoints => [{ 'interface' => 'eth1', 'flags' => ['subflow'] }],
#   }
class mptcpd (
  Optional[Hash[String, Integer]] $limits = undef,
  Optional[Array[Hash[String, Data]]] $endpoints = undef,
  Optional[Hash[String, Variant[Integer, String]]] $sysctl = undef,
  Enum['exclusive', 'shared'] $ownership = 'exclusive',
  String[1] $config_path = '/etc/mptcpd.yaml',
  String[1] $binary = '/usr/sbin/mptcpd',
  String[1] $reload_command = 'systemctl reload mptcpd',
  String[1] $service_name = 'mptcpd',
  Optional[String[1]] $service_provider = undef,
  Optional[String[1]] $service_status = undef,
  String[1] $owner = 'root',
  String[1] $group = 'root',
) {
  file { $config_path:
    ensure       => file,
    owner        => $owner,
    group        => $group,
    mode         => '0644',
    content      => epp('mptcpd/mptcpd.yaml.epp', {
      'limits'    => $limits,
      'endpoints' => $endpoints,
      'sysctl'    => $sysctl,
      'ownership' => $ownership,
    }),
    validate_cmd => "${binary} check -c %",
  }

  # The base provider cannot enable a service at boot; every other one is
  # asked to.
  $enable = $service_provider ? {
    'base'  => undef,
    default => true,
  }

  service { $service_name:
    ensure    => running,
    enable    => $enable,
    provider  => $service_provider,
    status    => $service_status,
    restart   => $reload_command,
    subscribe => File[$config_path],
  }
}
