# A host with two uplinks: extra subflows over every usable address of
# eth1, and a fixed address announced to peers.
#   puppet apply --modulepath examples/puppet examples/puppet/mptcpd/examples/init.pp
class { 'mptcpd':
  limits    => { 'subflows' => 2, 'add_addr_accepted' => 2 },
  endpoints => [
    { 'interface' => 'eth1', 'flags' => ['subflow'] },
    { 'address' => '198.51.100.20', 'dev' => 'eth2', 'id' => 2, 'flags' => ['signal'] },
  ],
  sysctl    => { 'enabled' => 1 },
}
